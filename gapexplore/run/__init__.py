"""The loop itself: :class:`Explorer` runs the steps of the paper's Fig. 1 in a run folder
(:mod:`.explorer`), resumable, from :class:`ExploreSettings` (:mod:`.settings`; its selection block
:class:`SelectionSettings`, :mod:`.selection`), with every
result on disk in a :class:`RunStore` (:mod:`.store`); :class:`RunReader` opens a run to
read it, never to write (:mod:`.reader`)."""

from gapexplore.run.explorer import STEPS, Explorer
from gapexplore.run.reader import RunReader
from gapexplore.run.selection import SelectionSettings
from gapexplore.run.settings import STOP_CRITERIA, ExploreSettings
from gapexplore.run.store import RunStore

__all__ = ["Explorer", "ExploreSettings", "RunReader", "RunStore", "STEPS", "STOP_CRITERIA",
           "SelectionSettings"]
