"""`python -m threadguard ...` (also what `torchrun -m threadguard train ...` runs)."""

from threadguard.cli import run

run()
