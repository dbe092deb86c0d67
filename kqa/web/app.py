"""The FastAPI app behind `kqa serve`: one static page and JSON endpoints over one pipeline loaded at start-up."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

from kqa.errors import ConfigError, InputError, KQAError, ModelUnavailableError, StoreError
from kqa.pipeline import KQAPipeline
from kqa.web.answer import Answerer, BusyError
from kqa.web.browse import GraphBrowser, UnknownConceptError
from kqa.web.config import WebConfig, is_loopback
from kqa.web.watch import GraphWatch

logger = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
EXAMPLE_BODY = '{"question": "...", "choices": ["a", "b"]}'
STATUS = ((UnknownConceptError, 404), (BusyError, 503), (StoreError, 503), (InputError, 400), (ConfigError, 400))


def serve(pipeline: str | Path | None, graph: str | Path | None, adapter: str | Path | None, config: WebConfig) -> None:
    """Bind the address, load the pipeline once, print where the page is, then serve until interrupted (Ctrl-C)."""
    uvicorn = _require("uvicorn")
    if not is_loopback(config.host):
        logger.warning("serving on %s:%d: any machine that can reach this address can use the page and its model.",
                       config.host, config.port)
    sock = _bind(config.host, config.port)  # before the model loads: a taken port fails in a second, not a minute
    qa = KQAPipeline.from_config(pipeline, graph=graph, adapter=adapter)
    app = create_app(qa, config)
    host, port = sock.getsockname()[:2]
    print(f"kqa page at http://{host}:{port} (Ctrl-C stops it)", flush=True)  # the real port, also for --port 0
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)  # connections wait in the backlog until uvicorn accepts: the printed address works at once
    except OSError as exc:
        sock.close()
        raise InputError(f"`--port` {port}: cannot listen on {host}:{port} ({exc.strerror}); pick another port, "
                         f"or --port 0 for any free one.") from None
    return sock


def create_app(pipeline: KQAPipeline, config: WebConfig | None = None):
    """The app over an already built pipeline; its model is loaded here, once, not per request."""
    config = config or WebConfig()
    fastapi = _require("fastapi")
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse
    from fastapi.staticfiles import StaticFiles
    from starlette.exceptions import HTTPException as StarletteHTTPException

    pipeline.reader.warm_up()
    watch = GraphWatch(pipeline.graph.path, pipeline.graph) if pipeline.graph is not None else None
    answerer = Answerer(pipeline, config, watch)
    browser = GraphBrowser(watch, config) if watch else None
    app = fastapi.FastAPI(title="kqa", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.middleware("http")
    async def _limit_body(request, call_next):
        length = request.headers.get("content-length", "0")
        if not length.isdigit() or int(length) > config.max_body_bytes:
            return _error(413, f"the request body has {length} bytes, more than the limit of {config.max_body_bytes} "
                          f"(`max_body_bytes`); send a shorter question.")
        return await call_next(request)

    @app.exception_handler(KQAError)
    async def _kqa_error(request, exc: KQAError):
        status = next((code for cls, code in STATUS if isinstance(exc, cls)), 500)
        extra = {"suggestions": exc.suggestions} if isinstance(exc, UnknownConceptError) else {}
        return _error(status, str(exc), **extra)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request, exc: RequestValidationError):
        return _error(400, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request, exc: StarletteHTTPException):  # e.g. a body JSON nested too deeply to parse
        return _error(exc.status_code, _http_message(exc.status_code, str(exc.detail), request.url.path))

    @app.exception_handler(Exception)
    async def _unexpected(request, exc: Exception):
        logger.exception("request %s failed", request.url.path)
        return _error(500, f"internal error ({type(exc).__name__}: {exc}); the server log has the details.")

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC / "index.html")

    @app.get("/api/info")
    def info() -> dict:
        return _info(pipeline, config)

    @app.post("/api/ask")
    def ask(request: AskRequest) -> dict:
        return answerer.run(request.question, request.choices, request.explain)

    @app.get("/api/stats")
    def stats() -> dict:
        return _browser(browser).stats()

    @app.get("/api/concept")
    def concept(name: str = "") -> dict:
        return _browser(browser).concept(name)

    @app.get("/api/suggest")
    def suggest(q: str = "") -> list[str]:
        return _browser(browser).suggest(q) if browser else []

    return app


def _ask_request():
    from pydantic import BaseModel, ConfigDict, Field

    class AskRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        question: str = Field(description="The question text.")
        choices: list[str] = Field(description="Answer choices, in order; they are labelled A, B, C, ...")
        explain: bool = Field(True, description="Attribute the chosen answer to its facts (slower).")

    return AskRequest


AskRequest = _ask_request()


def _info(pipeline: KQAPipeline, config: WebConfig) -> dict:
    graph = pipeline.graph
    return {"model": pipeline.model_name, "pipeline": pipeline.config.name,
            "graph": str(graph.path) if graph is not None else None, "reads_facts": pipeline.reader.uses_facts,
            "limits": {"question": config.max_question_chars, "choice": config.max_choice_chars,
                       "choices": config.max_choices, "concept": config.max_concept_chars}}


def _browser(browser: GraphBrowser | None) -> GraphBrowser:
    if browser is None:
        raise InputError("no graph is loaded: restart with `kqa serve --graph DIR` (or a pipeline with graph.path) "
                         "to browse one.")
    return browser


def _error(status: int, message: str, **extra):
    from fastapi.responses import JSONResponse

    return JSONResponse({"error": message, **extra}, status_code=status)


def _validation_message(exc) -> str:
    parts = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"] if p != "body") or "request body"
        parts.append(f"`{key}`: {err['msg']}")
    return "; ".join(parts) + f". Send JSON like {EXAMPLE_BODY}."


def _http_message(status: int, detail: str, path: str) -> str:
    if status == 400:  # FastAPI's only 400 of its own: a body that is no JSON it can parse
        return f"`request body`: {detail.lower()}. Send JSON like {EXAMPLE_BODY}."
    return (f"`{path}`: {detail} ({status}); the endpoints are GET /api/info, /api/stats, /api/concept?name=, "
            f"/api/suggest?q= and POST /api/ask.")


def _require(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ModelUnavailableError(f"`kqa serve` needs {module}. Fix: pip install 'kqa[web]'") from None
