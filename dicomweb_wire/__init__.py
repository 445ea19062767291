"""What crosses the wire between a DICOMweb client and this service, used by both sides.

Media types and Accept headers, the multipart/related framing, UID syntax and the STOW-RS status
codes. Pure Python with no Azure or web framework, so the command-line client installs it alone.
"""
