from kqa.cli import main

main()
