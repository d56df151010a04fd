"""The scoring service: raw records in, decisions with reasons out.

``engine`` scores (features by the training pipeline, the compiled library or XGBoost,
TreeSHAP reasons, champion/challenger/shadow, hot swap); ``app`` is the Litestar REST
API over it; ``service`` wires the engine, prediction log, key cache and metrics and
runs uvicorn; ``batch`` scores files. ``records`` checks request records against the
source schemas, ``decisions`` turns probabilities into scores, decisions and reason
texts; ``auth``, ``predlog``, ``outcomes`` and ``metrics`` are the service's parts.
"""

from appliance.serving.engine import Engine
from appliance.serving.service import RestService, build_service

__all__ = ["Engine", "RestService", "build_service"]
