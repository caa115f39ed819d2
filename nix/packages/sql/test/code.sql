.read foo.sql
SELECT text AS out FROM answers WHERE id = 2;
