"""smsc-sim: an SMPP 3.4 SMSC simulator for testers, end-to-end tests and benchmarks."""

from smsc_sim.model import Answer, Faults, Reply, SimConfig
from smsc_sim.server import MALFORMED_KINDS, SmscSimulator
from smsc_sim.threaded import SimulatorThread

__all__ = ["MALFORMED_KINDS", "Answer", "Faults", "Reply", "SimConfig", "SimulatorThread",
           "SmscSimulator"]
