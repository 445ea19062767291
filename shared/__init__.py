"""What every function shares over HTTP: running an operation (authorization, problems, the log line),
Entra ID tokens, content negotiation, multipart bodies and responses, settings and telemetry."""
