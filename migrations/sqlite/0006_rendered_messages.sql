-- A message's HTML, rendered once when its text became final; NULL while it streams, and for
-- rows written before (those are rendered when read).
ALTER TABLE messages ADD COLUMN content_html TEXT;
