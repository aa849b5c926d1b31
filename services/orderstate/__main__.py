from orderstate.cli import main

main()
