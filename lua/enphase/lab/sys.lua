--- The lab's (`enphase simulate`) dealings with the system: whole files
-- read and written, and words quoted for the shell.
local M = {}

--- The contents of the file at `path`, or nil and the reason.
function M.read(path)
  local f, err = io.open(path, "rb")
  if not f then
    return nil, err
  end
  local s = f:read("*a")
  f:close()
  return s
end

--- Writes `text` to a new file at `path` (see M.create); true, or nil and
-- a message naming the file.
function M.write(path, text)
  local f, err = M.create(path)
  if not f then
    return nil, err
  end
  local ok, werr = f:write(text)
  f:close()
  if not ok then
    return nil, ("cannot write %s: %s"):format(path, tostring(werr))
  end
  return true
end

--- A new file at `path`, for writing: a handle with write(...) and
-- close(), or nil and a message naming the file. Never written through a
-- symbolic link: an older entry is removed (a link itself, not its
-- target) and the file created exclusively, in a folder this user owns
-- (enphase.store's create).
function M.create(path)
  return require("enphase.store").create(path)
end

--- Makes the output folder `dir` (missing folders mode 0700), or checks
-- that it is a folder this user owns and not a symbolic link. True, or nil
-- and a message.
function M.out_dir(dir)
  return require("enphase.store").own_dir(dir)
end

--- `s` as one POSIX shell word (single-quoted).
function M.quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

return M
