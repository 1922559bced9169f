"""The surrogate reference ``"chgnet"``: CHGNet 0.3.0 as an ASE calculator on the CPU
(optional extra ``surrogate``; see :mod:`gapexplore.label.references`)."""

from __future__ import annotations

import contextlib
import io
import os
import warnings

__all__ = ["chgnet_calculator"]


def chgnet_calculator():
    """CHGNet 0.3.0 (weights from the installed wheel) as an ASE calculator on the CPU.

    Uses as many torch threads as ``OMP_NUM_THREADS`` says (1 if unset): worker processes
    must not oversubscribe the cores.
    """
    import torch
    from chgnet.model import CHGNet
    from chgnet.model.dynamics import CHGNetCalculator

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1") or 1))
    # CHGNet prints its parameter count and device on every load, whatever ``verbose``
    # says: once per worker process, into the logs of long runs
    chatter = contextlib.redirect_stdout(io.StringIO())
    with warnings.catch_warnings(), chatter:
        warnings.simplefilter("ignore")
        model = CHGNet.load(model_name="0.3.0", use_device="cpu", verbose=False)

    class CHGNetWithFreeEnergy(CHGNetCalculator):
        """CHGNet with ``free_energy`` (= energy, no smearing), which ASE's cell filters
        ask for; without it every relaxation with CHGNet fails at its first step."""

        implemented_properties = [*CHGNetCalculator.implemented_properties, "free_energy"]

        def calculate(self, atoms=None, properties=None, system_changes=None):
            properties = [p for p in (properties or ["energy"]) if p != "free_energy"]
            kwargs = {} if system_changes is None else {"system_changes": system_changes}
            with warnings.catch_warnings():   # torch on CHGNet's volume tensor, harmless
                warnings.filterwarnings("ignore", message="Converting a tensor with "
                                        "requires_grad=True to a scalar")
                super().calculate(atoms, properties or ["energy"], **kwargs)
            self.results["free_energy"] = self.results["energy"]

    # an isolated atom (the GAP's e0) has no neighbours: CHGNet's energy for it is its
    # composition term alone; it is computed without a warning
    with contextlib.redirect_stdout(io.StringIO()):
        return CHGNetWithFreeEnergy(model, use_device="cpu", on_isolated_atoms="ignore")
