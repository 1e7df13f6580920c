--- The C functions the library needs before (and without) any request:
-- private files, the file lock, SHA-256, the JWT's expiry and the clocks.
-- One place names the C module that provides them, so that a warm process
-- (a token cache holding a fresh JWT) can answer without loading libcurl
-- once that module is a separate one.
return require("enphase.core")
