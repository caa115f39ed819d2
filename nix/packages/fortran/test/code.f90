program code
    use foo, only: read_stdin, read_whole_file
    implicit none
    character(len=:), allocatable :: text
    character(len=64) :: argument
    character(len=3), parameter :: expected(3) = [character(len=3) :: 'foo', 'bar', 'baz']
    integer :: i, length
    logical :: ok

    text = read_stdin()
    if (text /= 'stdin' .or. len(text) /= 5) call exit(1)

    if (command_argument_count() /= 3) call exit(2)
    do i = 1, 3
        call get_command_argument(i, argument, length)
        if (length /= 3 .or. argument(1:3) /= expected(i)) call exit(2 + i)
    end do

    call read_whole_file('test.txt', text, ok)
    if (.not. ok .or. text /= 'hello world' .or. len(text) /= 11) call exit(6)

    print '(a)', 'OK'
end program code
