import java.util.Scanner;

class Example {
    public static void main(String[] args) {
        Scanner scanner = new Scanner(System.in);
        String name = scanner.hasNextLine() ? scanner.nextLine() : "";
        System.out.println("Hello, " + name + "!");
    }
}
