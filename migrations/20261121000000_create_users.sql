-- The user directory: the profile each user is shown with on a page.
CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,   -- the host app's user id (the JWT `sub`)
    name TEXT NOT NULL,
    avatar TEXT,                    -- http(s) URL of the picture; NULL means "show initials"
    role TEXT,                      -- the host app's role name, shown as is
    updated_at BIGINT NOT NULL      -- unix milliseconds of the last upsert
);
