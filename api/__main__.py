"""``python -m matd``: the ``matd`` command."""
from matd.cli.main import main

main()
