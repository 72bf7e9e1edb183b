/*
 * bench/noop.c: the cost of starting a process at all. make bench times its
 * fork, exec and exit as the first piece of every floor.
 */
int
main(void)
{
	return 0;
}
