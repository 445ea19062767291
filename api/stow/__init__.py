"""STOW-RS: storing instances (POST) and replacing them (PUT)."""
