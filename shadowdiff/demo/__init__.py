"""The bundled demo pair: a Flask model server, its FastAPI port, and a traffic generator."""
