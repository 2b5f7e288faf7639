"""Stub: IPython (only IPython.embed() in error handlers)."""
def embed(*a, **k):
    raise RuntimeError("IPython stub")

def get_ipython():
    return None
