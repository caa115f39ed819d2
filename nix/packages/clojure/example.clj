(let [name (or (read-line) "")]
  (println (str "Hello, " name "!")))
