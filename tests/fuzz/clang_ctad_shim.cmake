# cmake -DIN=src.cpp -DOUT=copy.cpp -P clang_ctad_shim.cmake
# Copies IN with a deduction guide for its `Overloaded` visitor helper: the source relies on
# C++20 aggregate CTAD, which clang implements from version 17 only. The guide goes on the line of
# the closing brace and a #line directive names IN, so reports point at IN's own lines.
file(READ "${IN}" text)
string(FIND "${text}" "Overloaded(Ts...) ->" has_guide)
if(has_guide EQUAL -1)
  string(REPLACE "struct Overloaded : Ts... {\n  using Ts::operator()...;\n};\n"
                 "struct Overloaded : Ts... {\n  using Ts::operator()...;\n}; template <class... Ts> Overloaded(Ts...) -> Overloaded<Ts...>;\n"
                 text "${text}")
endif()
file(WRITE "${OUT}.tmp" "#line 1 \"${IN}\"\n${text}")
file(RENAME "${OUT}.tmp" "${OUT}")
