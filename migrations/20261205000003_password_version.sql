-- Password changes end the user's other sessions (issue 13, section 6).
--
-- Each password change adds one to `password_version`. Browser sessions and API tokens
-- carry the version they were signed in with; one that carries an older version is
-- refused (`auth::versions`), so a change signs out every other browser and voids
-- every token issued before it, without finding their rows.
alter table users
    add column password_version integer not null default 0
        constraint users_password_version check (password_version >= 0);
