CREATE TABLE answers (id INTEGER PRIMARY KEY, text TEXT NOT NULL);
INSERT INTO answers (id, text) VALUES (1, 'NO'), (2, 'OK');
