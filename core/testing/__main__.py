"""``python -m core.testing [module:factory] [--host H] [--port N]``: serve a sandbox."""

from core.testing._private.running import main

main()
