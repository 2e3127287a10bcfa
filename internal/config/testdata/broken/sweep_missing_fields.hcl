config "x" {
  image = "img"
  scenario "1k1k" {
    isl = 1024
    osl = 1024
    search {
      tp   = 8
      conc = [4]
    }
  }
}
