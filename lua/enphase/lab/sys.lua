--- The lab's (`enphase simulate`) dealings with the system: whole files
-- read and written, and words quoted for the shell.
local M = {}

--- The contents of the file at `path`, or nil and the reason.
function M.read(path)
  local f, err = io.open(path, "rb")
  if not f then
    return nil, err
  end
  local s = f:read("a")
  f:close()
  return s
end

--- Writes `text` to the file at `path` (replacing it); true, or nil and a
-- message naming the file.
function M.write(path, text)
  local f, err = io.open(path, "wb")
  if not f then
    return nil, ("cannot write %s: %s"):format(path, tostring(err))
  end
  f:write(text)
  f:close()
  return true
end

--- A new file at `path`, for writing: a handle with write(...) and
-- close(), or nil and a message naming the file.
function M.create(path)
  local f, err = io.open(path, "wb")
  if not f then
    return nil, ("cannot write %s: %s"):format(path, tostring(err))
  end
  return f
end

--- Makes the output folder `dir` (missing folders mode 0700), or checks
-- that it is one. True, or nil and a message.
function M.out_dir(dir)
  if not os.execute("mkdir -p " .. M.quote(dir)) then
    return nil, "cannot create " .. dir
  end
  return true
end

--- `s` as one POSIX shell word (single-quoted).
function M.quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

return M
