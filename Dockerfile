# The scoring service with its moderation page. Serving needs no PyTorch: the default model is int8 ONNX.
# Build: docker build -t threadguard .   Run with PostgreSQL: docker compose up (compose.yaml)
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY threadguard threadguard
COPY labels labels
COPY training training
COPY serving serving
COPY models models
RUN pip install --no-cache-dir . && useradd --create-home threadguard
USER threadguard
ENV THREADGUARD_PORT=8000 THREADGUARD_MODEL_DIR=/app/models/current THREADGUARD_MODELS_ROOT=/app/models
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD ["python", "-c", "import urllib.request,os; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ['THREADGUARD_PORT']}/readyz\")"]
# tests/e2e/test_replicas.py runs exactly this command (and checks compose.yaml uses it too).
CMD ["threadguard", "serve", "--host", "0.0.0.0"]
