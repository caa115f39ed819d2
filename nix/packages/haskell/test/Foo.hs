module Foo (readFileMaybe, expectedArgs) where

import Control.Exception (IOException, try)

-- | The content of a file, or Nothing if it cannot be read.
readFileMaybe :: FilePath -> IO (Maybe String)
readFileMaybe path = do
  result <- try (readFile path >>= \text -> length text `seq` return text)
  return $ case result of
    Left err -> const Nothing (err :: IOException)
    Right text -> Just text

-- | The arguments the conformance run passes, in order.
expectedArgs :: [String]
expectedArgs = ["foo", "bar", "baz"]
