-- `@Name` mentions must point at one agent: names are unique within a room, ignoring ASCII case.
CREATE UNIQUE INDEX agents_room_id_name ON agents (room_id, lower(name));
