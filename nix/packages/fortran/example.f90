program example
    implicit none
    character(len=256) :: name
    integer :: status

    name = ''
    read(*, '(a)', iostat=status) name
    print '(a)', 'Hello, ' // trim(name) // '!'
end program example
