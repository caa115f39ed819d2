! Helpers of the conformance program.
module foo
    use, intrinsic :: iso_fortran_env, only: input_unit, iostat_end, iostat_eor
    implicit none
    private
    public :: read_stdin, read_whole_file

contains

    ! All of standard input, character by character; a record end becomes a newline,
    ! so the text is exact (a last line without a newline stays without one).
    function read_stdin() result(text)
        character(len=:), allocatable :: text
        character :: char
        integer :: status

        text = ''
        do
            read(input_unit, '(a1)', advance='no', iostat=status) char
            if (status == iostat_eor) then
                text = text // new_line('a')
            else if (status == 0) then
                text = text // char
            else
                exit
            end if
        end do
    end function read_stdin

    ! A whole file byte by byte; ok is false if it cannot be opened.
    subroutine read_whole_file(path, text, ok)
        character(len=*), intent(in) :: path
        character(len=:), allocatable, intent(out) :: text
        logical, intent(out) :: ok
        character :: byte
        integer :: unit, status

        text = ''
        open(newunit=unit, file=path, access='stream', form='unformatted', &
             action='read', status='old', iostat=status)
        ok = status == 0
        if (.not. ok) return
        do
            read(unit, iostat=status) byte
            if (status /= 0) exit
            text = text // byte
        end do
        close(unit)
    end subroutine read_whole_file

end module foo
