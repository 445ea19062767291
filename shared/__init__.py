"""DICOMweb archive on Azure Functions: the logic behind every function in function_app.py."""
