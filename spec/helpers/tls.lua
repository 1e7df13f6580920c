-- A throwaway test CA and server certificates, made with the openssl command
-- at test time in a temporary directory (never committed, removed by
-- cleanup()). EC P-256 keys: fast to generate.
--
--   local tls = require("helpers.tls").new()
--   local good = tls:server("localhost", { "DNS:localhost" })   -- {cert=, key=}
--   tls.ca                       the CA certificate (for the client's ca_file)
--   tls:cleanup()
local M = {}

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function run(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("a")
  local ok = p:close()
  if not ok then
    error("command failed: " .. cmd .. "\n" .. out, 3)
  end
  return out
end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local Tls = {}
Tls.__index = Tls

--- Make a CA (key + self-signed certificate) in a new temporary directory.
function M.new()
  local dir = run("mktemp -d /tmp/enphase-tls.XXXXXX"):gsub("%s+$", "")
  local self = setmetatable({ dir = dir, ca = dir .. "/ca.pem", ca_key = dir .. "/ca.key",
                              serial = 0 }, Tls)
  run(("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
    .. "-subj '/CN=lua-enphase test CA' -keyout %s -out %s "
    .. "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign")
    :format(shell_quote(self.ca_key), shell_quote(self.ca)))
  return self
end

--- A server certificate signed by the CA for common name `cn` with the
-- subjectAltName entries `sans` (e.g. {"DNS:localhost", "IP:127.0.0.1"}).
-- Returns {cert=, key=} (file paths; cert holds the certificate only).
function Tls:server(cn, sans)
  self.serial = self.serial + 1
  local base = ("%s/server%d"):format(self.dir, self.serial)
  local ext = base .. ".ext"
  write(ext, "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
    .. "extendedKeyUsage=serverAuth\nsubjectAltName=" .. table.concat(sans, ",") .. "\n")
  run(("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj %s "
    .. "-keyout %s -out %s"):format(shell_quote("/CN=" .. cn), shell_quote(base .. ".key"),
    shell_quote(base .. ".csr")))
  run(("openssl x509 -req -in %s -CA %s -CAkey %s -set_serial %d -days 2 -extfile %s -out %s")
    :format(shell_quote(base .. ".csr"), shell_quote(self.ca), shell_quote(self.ca_key),
      self.serial + 1000, shell_quote(ext), shell_quote(base .. ".pem")))
  return { cert = base .. ".pem", key = base .. ".key" }
end

function Tls:cleanup()
  if self.dir then
    os.execute("rm -rf " .. shell_quote(self.dir))
    self.dir = nil
  end
end

return M
