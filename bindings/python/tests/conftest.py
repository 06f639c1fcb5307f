import os
import sys

# Tests run against this checkout's package (and, through it, the library
# found by softmaxkit._lib: SOFTMAXKIT_LIBRARY or the repository's build).
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
