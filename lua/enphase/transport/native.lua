--- The C functions the library needs before (and without) any request:
-- private files, the file lock, SHA-256, the JWT's expiry and the clocks.
-- They are enphase.store's, a C module that links no libcurl, so a warm
-- process (a token cache holding a fresh JWT) answers without loading the
-- HTTP library; enphase.core is loaded only when a request is needed.
return require("enphase.store")
