import Control.Monad (unless, when)
import System.Environment (getArgs)
import System.Exit (ExitCode (ExitFailure), exitWith)

import Foo (expectedArgs, readFileMaybe)

failWith :: Int -> IO ()
failWith = exitWith . ExitFailure

main :: IO ()
main = do
  input <- getContents
  when (input /= "stdin") $ failWith 1
  args <- getArgs
  when (length args /= 3) $ failWith 2
  sequence_ [when (got /= want) $ failWith code
            | (code, got, want) <- zip3 [3 ..] args expectedArgs]
  content <- readFileMaybe "test.txt"
  unless (content == Just "hello world") $ failWith 6
  putStrLn "OK"
