using System.IO;

namespace Conformance
{
    public static class Inputs
    {
        // Everything on standard input.
        public static string ReadStdin()
        {
            using (var reader = new StreamReader(System.Console.OpenStandardInput()))
            {
                return reader.ReadToEnd();
            }
        }

        // The content of a file, or null if it cannot be read.
        public static string ReadFileOrNull(string path)
        {
            try
            {
                return File.ReadAllText(path);
            }
            catch (IOException)
            {
                return null;
            }
        }
    }
}
