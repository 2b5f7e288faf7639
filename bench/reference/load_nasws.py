"""Import nasws (kcyu2014/nas-landmarkreg a00c361) NB101 search model without the package
__init__ chains (nasbench201/darts/nds spaces, policies)."""
import os, sys, types, collections.abc
os.environ.setdefault("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")  # old generated model_metrics_pb2
R = os.environ.get("REF", "/tmp/ref_supernets")  # the reference checkouts (README.md here)
for p in (R + "/site", R + "/nasws"):
    if p not in sys.path:
        sys.path.insert(0, p)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "stubs"))
# torch._six was removed in torch 2: shim with the stdlib module it re-exported
_six = types.ModuleType("torch._six"); _six.container_abcs = collections.abc
sys.modules["torch._six"] = _six
# networkx 3 renamed from_numpy_matrix -> from_numpy_array (same graph, same edge order)
import networkx as nx
if not hasattr(nx, "from_numpy_matrix"):
    nx.from_numpy_matrix = nx.from_numpy_array

def _pkg(name, path):
    m = types.ModuleType(name); m.__path__ = [path]; sys.modules[name] = m; return m

_pkg("nasws.cnn.search_space", R + "/nasws/nasws/cnn/search_space")
_pkg("nasws.cnn.search_space.nasbench101", R + "/nasws/nasws/cnn/search_space/nasbench101")
from nasws.cnn.search_space.nasbench101 import model_search, model as nb_model, operations as nb_ops
from nasws.cnn.search_space.nasbench101.nasbench_api_v2 import ModelSpec_v2
