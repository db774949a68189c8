// std::visit over a variant with one lambda per alternative: Overloaded{[](A) {...}, [](B) {...}}.
#pragma once

namespace dlnflow {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;  // C++20 deduces it; clang before 17 needs it spelled out

}  // namespace dlnflow
