(ns foo)

(defn read-file
  "A file's text, or nil if it cannot be read."
  [path]
  (try
    (slurp path)
    (catch java.io.IOException _ nil)))
