import java.io.IOException;
import java.util.List;

// Not public: a public class would have to live in FooBar.java. `throws` as users write it.
class FooBar {
    public static void main(String[] args) throws IOException {
        if (!Foo.readStdin().equals("stdin")) {
            System.exit(1);
        }
        if (args.length != 3) {
            System.exit(2);
        }
        List<String> expected = List.of("foo", "bar", "baz");
        for (int i = 0; i < 3; i++) {
            if (!args[i].equals(expected.get(i))) {
                System.exit(3 + i);
            }
        }
        if (!"hello world".equals(Foo.readFile("test.txt"))) {
            System.exit(6);
        }
        System.out.println("OK");
    }
}
