#include <iostream>
#include "octavo/octavo.h"
int main() { std::cout << octavo::kVersion << "\n"; }
