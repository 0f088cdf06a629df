"""`sropt serve`: a web page and HTTP API around any artifact sropt makes (issue 16)."""
