"""Loads the generated pairgate.v1 stubs (clients/python/gen/, or $PAIRGATE_PY_STUBS) for adapter.py and node.py."""
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
GEN_DIR = os.environ.get("PAIRGATE_PY_STUBS") or os.path.join(_HERE, "gen")

if not os.path.isdir(os.path.join(GEN_DIR, "pairgate", "v1")):
    sys.exit(f"pairgate stubs not found in {GEN_DIR}: run `make python-stubs` (python3 clients/python/generate.py) first")
sys.path.insert(0, GEN_DIR)

# pylint: disable=wrong-import-position,unused-import
from pairgate.v1 import dm_access_service_pb2 as access_pb  # noqa: E402
from pairgate.v1 import dm_access_service_pb2_grpc as access_grpc  # noqa: E402
from pairgate.v1 import node_pairing_service_pb2 as node_pb  # noqa: E402
from pairgate.v1 import node_pairing_service_pb2_grpc as node_grpc  # noqa: E402
