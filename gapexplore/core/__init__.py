"""What every step shares: the names of values on ``ase.Atoms`` (:mod:`.keys`), errors and
parameter checks (:mod:`.errors`, :mod:`.checks`), the element's radius and bonding
(:mod:`.chemistry`), distances (:mod:`.geometry`), space groups (:mod:`.symmetry`) and
where the work runs (:mod:`.parallel`). It imports nothing else of gapexplore."""
