"""The API areas, one package each: its operations and the Azure Functions Blueprint that routes to them."""
