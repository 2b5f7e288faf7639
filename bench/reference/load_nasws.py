"""Import nasws (kcyu2014/nas-landmarkreg a00c361) search models without the package __init__
chains (nasbench201/darts/nds spaces, policies, datasets).

NB101: ``from load_nasws import model_search, nb_model, nb_ops, ModelSpec_v2`` (loaded on first use).
NB201: ``load_nasws.nb201()`` -> namespace with model_search, search_cells, cell_operations, Structure."""
import ast, functools, os, sys, types, collections.abc
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

@functools.lru_cache(maxsize=None)
def nb101():
    _pkg("nasws.cnn.search_space.nasbench101", R + "/nasws/nasws/cnn/search_space/nasbench101")
    from nasws.cnn.search_space.nasbench101 import model_search, model as nb_model, operations as nb_ops
    from nasws.cnn.search_space.nasbench101.nasbench_api_v2 import ModelSpec_v2
    return types.SimpleNamespace(model_search=model_search, nb_model=nb_model, nb_ops=nb_ops, ModelSpec_v2=ModelSpec_v2)

@functools.lru_cache(maxsize=None)
def nb201():
    base = R + "/nasws/nasws/cnn/search_space/nasbench201"
    _pkg("nasws.cnn.search_space.nasbench201", base)  # skip its __init__ (search space -> NB201 API, datasets)
    # model_search.py imports only Dataset2Class from nasws.dataset.image_datasets, whose imports (and
    # nasws/dataset/__init__) need torchvision datasets/PIL: stand in a module holding the same dict,
    # read from that file's source
    _pkg("nasws.dataset", R + "/nasws/nasws/dataset")
    src = open(R + "/nasws/nasws/dataset/image_datasets.py").read()
    node = next(n for n in ast.parse(src).body if isinstance(n, ast.Assign) and
                getattr(n.targets[0], "id", None) == "Dataset2Class")
    m = types.ModuleType("nasws.dataset.image_datasets"); m.Dataset2Class = ast.literal_eval(node.value)
    sys.modules[m.__name__] = m
    from nasws.cnn.search_space.nasbench201 import model_search
    from nasws.cnn.search_space.nasbench201.lib.models import cell_operations
    from nasws.cnn.search_space.nasbench201.lib.models.cell_searchs import search_cells
    from nasws.cnn.search_space.nasbench201.lib.models.cell_searchs.genotypes import Structure
    return types.SimpleNamespace(model_search=model_search, cell_operations=cell_operations,
                                 search_cells=search_cells, Structure=Structure)

def __getattr__(name):  # the NB101 names this module exported before nb201() existed
    if name in ("model_search", "nb_model", "nb_ops", "ModelSpec_v2"):
        return getattr(nb101(), name)
    raise AttributeError(name)
