-- A run's view lists the replies written in it, in order.
CREATE INDEX messages_run_id_id ON messages (run_id, id);
