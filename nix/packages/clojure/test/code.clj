(require '[foo :as foo])

(defn check []
  (let [args (vec *command-line-args*)]
    (cond
      (not= (slurp *in*) "stdin") 1
      (not= (count args) 3) 2
      :else (or (some (fn [[i want]] (when (not= (args i) want) (+ 3 i)))
                      (map-indexed vector ["foo" "bar" "baz"]))
                (when (not= (foo/read-file "test.txt") "hello world") 6)))))

(if-let [status (check)]
  (System/exit status)
  (println "OK"))
