/* main.c — placeholder entry until the CLI lands (see issue 2). */
#include <stdio.h>
int main(void) {
    puts("jifen (under construction)");
    return 0;
}
